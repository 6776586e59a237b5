"""The dashboard's entry point: navigation, shared sidebar. Run with ``make run``."""

from pathlib import Path

import streamlit as st

# a file, not a Material icon: Streamlit fetches those page icons from a font CDN, which fails offline
ICON = Path(__file__).resolve().parent / "assets" / "favicon.png"
st.set_page_config(page_title="Local AI model dashboard", page_icon=str(ICON), layout="wide")

from ui.common import sidebar  # noqa: E402  (after set_page_config)

pages = {
    "": [st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True)],
    "Tasks": [
        st.Page("app_pages/image_classification.py", title="Image classification", icon=":material/image:"),
        st.Page("app_pages/text_analysis.py", title="Text analysis", icon=":material/article:"),
        st.Page("app_pages/text_generation.py", title="Text generation", icon=":material/edit_note:"),
        st.Page("app_pages/speech.py", title="Speech transcription", icon=":material/mic:"),
        st.Page("app_pages/detection.py", title="Road-scene detection", icon=":material/directions_car:"),
    ],
    "Admin": [st.Page("app_pages/system.py", title="System", icon=":material/monitor_heart:")],
}
page = st.navigation(pages)
status = st.sidebar.container()  # filled after the page, so it lists what the page just loaded
try:
    page.run()
finally:
    with status:
        sidebar()
