"""Where donors' money went and what the public may see of it: which receipts paid for each
disbursement (`allocation`), a donor's trail and the public view of a fund (`reports`), IATI and
360Giving exports (`exports`), the public log's routes (`api`)."""
