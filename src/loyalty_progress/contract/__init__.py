"""Wire types: every input event and output message, and decoding with precise reasons."""

from loyalty_progress.contract.events import (
    BadInput,
    InputEvent,
    InputStream,
    MemberEvent,
    PointsEvent,
    ReceiptEvent,
    VoucherEvent,
    decode_body,
    decode_entry,
)
from loyalty_progress.contract.outputs import (
    DeadLetter,
    Notification,
    OutputStream,
    Prize,
    RewardIssuance,
    encode,
)

__all__ = [
    "BadInput",
    "DeadLetter",
    "InputEvent",
    "InputStream",
    "MemberEvent",
    "Notification",
    "OutputStream",
    "PointsEvent",
    "Prize",
    "ReceiptEvent",
    "RewardIssuance",
    "VoucherEvent",
    "decode_body",
    "decode_entry",
    "encode",
]
