"""The Telegram channel: an aiogram 3 adapter over the service layer (no SQL, no rules here)."""
