"""The conversation states of the multi-step flows; each answer is saved as it arrives."""

from aiogram.fsm.state import State, StatesGroup


class RateFlow(StatesGroup):
    department = State()
    service = State()
    score = State()
    aspect = State()
    comment = State()


class ComplainFlow(StatesGroup):
    # Photos and a location may come first; the text files the complaint.
    describe = State()


class SurveyFlow(StatesGroup):
    # Waiting for the typed answer to a text question; buttons answer the other kinds.
    text = State()
