"""Built-in providers: one package per cloud, each the only place its SDK is imported."""
