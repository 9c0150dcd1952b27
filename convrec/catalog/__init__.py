"""Catalogs: the item schema, loaders for user files, builders for shipped catalogs, indexing."""
