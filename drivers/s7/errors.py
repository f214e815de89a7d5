"""What a PLC's refusal means, in words that name the setting to change.

S7-1200/1500 CPUs refuse absolute-address access by default, and a site engineer sees only a
code. These texts put the TIA Portal setting next to the code so the fix is one step away.
"""

from __future__ import annotations

from snap7.error import get_protocol_error_message

PUT_GET = ("enable 'Permit access with PUT/GET communication from remote partner' "
           "(TIA Portal: CPU properties > Protection & Security > Connection mechanisms)")
NON_OPTIMIZED = ("clear 'Optimized block access' in the DB's properties (Attributes), then download")

# S7 data item return codes (reply to read/write var)
ITEM_OK = 0xFF
ITEM_HARDWARE = 0x01
ITEM_ACCESS_DENIED = 0x03
ITEM_ADDRESS = 0x05
ITEM_TYPE = 0x06
ITEM_TYPE_INCONSISTENT = 0x07
ITEM_NOT_EXIST = 0x0A

# S7 header error (class << 8 | code) of a refused job
HEADER_FUNCTION_NOT_AVAILABLE = 0x8104


class S7Refused(Exception):
    """The PLC answered the whole job with an error in the S7 header (e.g. PUT/GET not permitted)."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(text)
        self.code = code


def item_reason(code: int, address: str, area: str) -> str:
    """Reason for one failed data item: `address` is what the tag reads (`DB5.DBD0`), `area` where it
    lives (`DB5`, `M`, `I`, `Q`)."""
    is_db = area.startswith("DB")
    if code == ITEM_ACCESS_DENIED:
        extra = f" and {NON_OPTIMIZED}" if is_db else ""
        return (f"PLC denies access to {address} (S7 item code 0x03): on S7-1200/1500 {PUT_GET}{extra}; "
                f"also check the CPU's access level")
    if code == ITEM_ADDRESS:
        if is_db:
            return (f"{address}: address out of range (S7 item code 0x05): {area} is shorter than that, "
                    f"or it has optimized block access - {NON_OPTIMIZED}")
        return f"{address}: address out of range (S7 item code 0x05): beyond the PLC's {area} area"
    if code == ITEM_NOT_EXIST:
        what = f"{area} does not exist in the PLC" if is_db else f"area {area} is not available in the PLC"
        return f"{address}: {what} (S7 item code 0x0A)"
    if code == ITEM_HARDWARE:
        return f"{address}: hardware fault reported by the PLC (S7 item code 0x01)"
    if code in (ITEM_TYPE, ITEM_TYPE_INCONSISTENT):
        return f"{address}: data type not supported by the PLC (S7 item code 0x{code:02X})"
    return f"{address}: PLC answered with S7 item code 0x{code:02X}"


def header_reason(code: int, action: str = "read") -> str:
    """Reason for a job the PLC refused as a whole."""
    if code == HEADER_FUNCTION_NOT_AVAILABLE:
        return (f"PLC refused the {action} (S7 error 0x8104, function not available): on S7-1200/1500 {PUT_GET} "
                f"and {NON_OPTIMIZED}")
    if code >> 8 == 0x85:
        return f"PLC refused the {action} (S7 error 0x{code:04X}: request too large for the PDU or malformed)"
    return f"PLC refused the {action} (S7 error 0x{code:04X}: {get_protocol_error_message(code)})"
