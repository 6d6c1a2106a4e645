"""Small reusable widgets shared by the pages (pages never import each other)."""
