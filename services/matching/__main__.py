from services.matching.app import DEFINITION
from services.matching.settings import MatchingSettings
from shared.service import serve

serve(DEFINITION, MatchingSettings())
