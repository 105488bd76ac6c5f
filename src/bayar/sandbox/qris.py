"""EMVCo merchant-presented QR payloads as QRIS uses them (tag-length-value, CRC-16/CCITT-FALSE)."""

from __future__ import annotations

from dataclasses import dataclass


def crc16_ccitt(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def _tlv(tag: str, value: str) -> str:
    if len(value) > 99:
        raise ValueError(f"EMVCo field {tag} is longer than 99 characters")
    return f"{tag}{len(value):02d}{value}"


@dataclass(frozen=True)
class QrisMerchant:
    name: str = "BAYAR SANDBOX"
    city: str = "JAKARTA"
    postal_code: str = "12190"
    nmid: str = "ID1026000000001"
    category_code: str = "5814"


def build_payload(
    *, amount: int, reference: str, bill_number: str, acquirer: str, merchant: QrisMerchant
) -> str:
    """A dynamic (single-use, fixed amount) QRIS payload for one transaction."""
    guid = {"gopay": "ID.CO.GOJEK.WWW", "xendit": "ID.CO.XENDIT.WWW"}.get(
        acquirer, "ID.CO.SHOPEE.WWW"
    )
    account = _tlv("00", guid) + _tlv("01", "936009140000000001") + _tlv("02", "G000BAYAR")
    account += _tlv("03", "UMI")
    qris_id = _tlv("00", "ID.CO.QRIS.WWW") + _tlv("02", merchant.nmid) + _tlv("03", "UMI")
    extra = _tlv("01", bill_number[:25]) + _tlv("05", reference[:25]) + _tlv("07", "BAYARSBX")
    body = (
        _tlv("00", "01")
        + _tlv("01", "12")
        + _tlv("26", account)
        + _tlv("51", qris_id)
        + _tlv("52", merchant.category_code)
        + _tlv("53", "360")
        + _tlv("54", str(amount))
        + _tlv("58", "ID")
        + _tlv("59", merchant.name[:25])
        + _tlv("60", merchant.city[:15])
        + _tlv("61", merchant.postal_code)
        + _tlv("62", extra)
        + "6304"
    )
    return body + f"{crc16_ccitt(body.encode('ascii')):04X}"


def parse(payload: str) -> dict[str, str]:
    """Top-level fields of a payload; raises ValueError when it is malformed or its CRC is wrong."""
    fields: dict[str, str] = {}
    i = 0
    while i < len(payload):
        if i + 4 > len(payload):
            raise ValueError("truncated EMVCo field")
        tag, length = payload[i : i + 2], payload[i + 2 : i + 4]
        if not length.isdigit():
            raise ValueError(f"bad length for EMVCo field {tag}")
        end = i + 4 + int(length)
        if end > len(payload):
            raise ValueError(f"EMVCo field {tag} runs past the end")
        fields[tag] = payload[i + 4 : end]
        i = end
    crc = fields.get("63")
    if crc is None or payload[-8:-4] != "6304":
        raise ValueError("no CRC field at the end")
    if int(crc, 16) != crc16_ccitt(payload[:-4].encode("ascii")):
        raise ValueError("CRC mismatch")
    return fields
