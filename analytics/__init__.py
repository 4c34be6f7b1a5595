"""PainPath analytics: the pure-Python core (no Streamlit) behind the app, the CLI and the tests."""
