"""Catalogs: the item schema, loaders for user files, builders for the shipped catalogs, indexing."""
