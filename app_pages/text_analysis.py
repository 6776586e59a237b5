"""Text analysis: sentiment with a calibrated confidence, and named entities
highlighted in the text. Every user string is HTML-escaped before rendering."""

import pandas as pd
import streamlit as st

from services import api
from services.inputs import clean_text, split_sentences
from ui import compare, explain
from ui.common import ensure_loaded, friendly_errors, limits_caption, model_picker
from ui.highlight import entity_html, legend_html
from ui.sentiment import CONFIDENCE_COLUMNS, label_markdown, sentence_share_chart, sentiment_rows

st.title("Text analysis")
st.caption("Sentiment and named entities. " + limits_caption("text", "upload"))

EXAMPLE = ("The new phone from Apple is wonderful, and Tim Cook presented it in Cupertino on Monday. "
           "Sadly the battery died after two hours in London.")

with st.sidebar:
    st.markdown("**Text analysis models**")
    sentiment_spec = model_picker("sentiment", key="ta_sent_model", label="Sentiment model")
    ner_spec = model_picker("ner", key="ta_ner_model", label="Entity model")
    per_sentence = st.toggle("Sentiment per sentence", value=True, key="ta_per_sentence",
                             help="Long texts are always analysed whole, sentence by sentence; nothing is cut.")
    comparing = st.toggle("Compare two models", key="ta_compare_on", help=compare.HELP)
    if comparing:
        second_sentiment = model_picker("sentiment", "ta_compare_sent", "Second sentiment model", avoid=sentiment_spec.id)
        second_ner = model_picker("ner", "ta_compare_ner", "Second entity model", avoid=ner_spec.id)

text_tab, file_tab = st.tabs(["Text", "File of lines"])
with text_tab:
    text = st.text_area("Text", value=EXAMPLE, height=150, key="ta_text")
    go = st.button("Analyse", type="primary", key="ta_go")
with file_tab:
    lines_file = st.file_uploader("A UTF-8 text file, one text per line", type=["txt", "csv", "tsv"], key="ta_file")

if lines_file is not None:
    with friendly_errors("Reading the file"):
        try:
            raw = lines_file.getvalue().decode("utf-8")
        except UnicodeDecodeError:
            raise api.InputError("The file is not UTF-8 text.") from None
        lines = [line for line in raw.splitlines() if line.strip()]
        if not lines:
            raise api.InputError("The file has no lines of text.")
        if ensure_loaded(sentiment_spec):
            with st.spinner(f"Scoring {len(lines)} lines..."):
                scored = api.sentiment(lines, model=sentiment_spec.id)
            table = sentiment_rows(scored, "text")
            st.dataframe(table, hide_index=True, width="stretch", column_config=CONFIDENCE_COLUMNS)
            sentence_share_chart(scored, "lines")
            st.download_button("Download CSV", table.to_csv(index=False), "sentiment.csv", "text/csv")
    st.stop()

if not (go or text):
    st.stop()


def compare_analysis(cleaned: str) -> None:
    st.subheader("Sentiment")
    spans = split_sentences(cleaned)
    texts = [cleaned[s:e] for s, e in spans] if per_sentence and len(spans) > 1 else [cleaned]
    compare.sentiments(*compare.run_two("sentiment", [(m, lambda i: api.sentiment(texts, model=i), "")
                                                      for m in (sentiment_spec, second_sentiment)]))
    st.subheader("Named entities")
    compare.entities(*compare.run_two("ner", [(m, lambda i: api.entities(cleaned, model=i)[0], "")
                                              for m in (ner_spec, second_ner)]))


with friendly_errors("Text analysis"):
    cleaned = clean_text(text)
    if comparing:
        if ensure_loaded(sentiment_spec) and ensure_loaded(ner_spec):
            compare_analysis(cleaned)
        st.stop()
    st.subheader("Sentiment")
    if ensure_loaded(sentiment_spec):
        overall = api.sentiment(cleaned, model=sentiment_spec.id)[0]
        st.markdown(label_markdown(overall))
        st.progress(overall.score)
        explain.words_button(cleaned, sentiment_spec.id)
        spans = split_sentences(cleaned)
        if per_sentence and len(spans) > 1:
            sentences = [cleaned[s:e] for s, e in spans]
            scored = api.sentiment(sentences, model=sentiment_spec.id)
            sentence_share_chart(scored, "sentences")
            st.dataframe(sentiment_rows(scored, "sentence"), hide_index=True, width="stretch",
                         column_config=CONFIDENCE_COLUMNS)

    st.subheader("Named entities")
    if ensure_loaded(ner_spec):
        found = api.entities(cleaned, model=ner_spec.id)[0]
        st.markdown(legend_html(sorted({e.label for e in found.entities})), unsafe_allow_html=True)
        st.markdown(entity_html(found.text, found.entities), unsafe_allow_html=True)
        if found.entities:
            st.dataframe(pd.DataFrame([e.to_dict() for e in found.entities]), hide_index=True, width="stretch",
                         column_config={"score": st.column_config.ProgressColumn(
                             "confidence", format="percent", min_value=0, max_value=1,
                             help="Calibrated probability that the span and its type are right")})
            if all(e.score is None for e in found.entities):
                st.caption("This model gives no calibrated confidence for its entities, so none is shown.")
        else:
            st.caption("No entities found.")
