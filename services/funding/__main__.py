from services.funding.app import DEFINITION
from services.funding.settings import FundingSettings
from shared.service import serve

serve(DEFINITION, FundingSettings())
