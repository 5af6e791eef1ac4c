"""Dataset formats and readers (RHD, STB, and the synthetic world written in their formats)."""
