//! Niêm search: the tantivy index of meeting transcripts, with Vietnamese analysers
//! (exact and diacritic-folded fields), org-scoped queries and snippets.
//!
//! Empty until the transcripts it indexes exist (the search issue). It will never
//! be the source of truth: the index is rebuilt from the archive.
