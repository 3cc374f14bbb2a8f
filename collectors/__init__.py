"""Built-in collectors: files (CSV, XLSX, JSONL) and, later, HTTP sources."""
