"""Session store: SQLAlchemy models, engine, Alembic migrations."""
