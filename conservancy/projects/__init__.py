"""The sponsor and its member projects."""
