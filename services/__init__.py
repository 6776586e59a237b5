"""The service layer: model catalog, process-wide manager, typed task API. No Streamlit here."""
