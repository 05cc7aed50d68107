"""The bundled logwarden checklist (data only): checklist.yaml and scenarios/*.yaml."""
