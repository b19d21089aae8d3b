"""Live sessions (直播场次): the operator's live board (``board``), the sales of a campaign
as they come in, per leader code."""
