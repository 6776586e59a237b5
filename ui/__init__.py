"""Streamlit helpers shared by the pages (the service layer stays Streamlit-free)."""
