"""Running the OWASP CRS over access-log requests: transformations, operators, anomaly scores.
May import checklist.crs (the loaded rules), parsing's Arrow helpers and the top modules."""
