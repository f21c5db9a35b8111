"""Conflict profile routes (to come with the registry issue)."""

from fastapi import APIRouter

router = APIRouter()
