"""Help-centre search: jieba + domain dictionary + synonyms + BM25 (bm25s), per language."""
