"""Receipts as one printable A4 page, drawn with fpdf2.

fpdf2 is pure Python and maintained; its core Helvetica font needs no font
file, and every value on a receipt is ASCII (numbers, base58, URLs, ISO dates).
It is imported on the first receipt asked for, not at start: with Pillow and
fontTools it takes about 0.25 s to import, which every `pourtier` command and
worker would otherwise pay.
"""

from __future__ import annotations

from datetime import datetime

from pourtier.domain.money import format_usdc
from pourtier.domain.receipts import Receipt

SERVICE_NAME = "Pourtier"
LABEL_WIDTH = 45
LINE_HEIGHT = 8


def _day(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def render_receipt_pdf(receipt: Receipt, explorer: str | None) -> bytes:
    """The receipt's PDF: what was paid, for what, and where to verify it."""
    from fpdf import FPDF
    from fpdf.enums import XPos, YPos

    pdf = FPDF(format="A4")
    pdf.set_title(f"{SERVICE_NAME} receipt {receipt.number}")
    pdf.set_creator(SERVICE_NAME)
    pdf.set_creation_date(receipt.issued_at)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 12, f"{SERVICE_NAME} - Receipt", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    rows = [
        ("Receipt number", receipt.number),
        ("Date", _day(receipt.issued_at)),
        ("Plan", f"{receipt.plan.value} ({receipt.kind.value} charge)"),
        (
            "Period",
            f"{_day(receipt.period_start)} to {_day(receipt.period_end)}",
        ),
        ("Amount", f"{format_usdc(receipt.amount)} USDC"),
    ]
    for label, value in rows:
        pdf.set_font("Helvetica", "B", 11)
        pdf.cell(LABEL_WIDTH, LINE_HEIGHT, label)
        pdf.set_font("Helvetica", "", 11)
        pdf.cell(0, LINE_HEIGHT, value, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(0, LINE_HEIGHT, "On-chain signature", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Courier", "", 9)
    pdf.multi_cell(0, 5, receipt.signature, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if explorer is not None:
        pdf.ln(2)
        pdf.set_font("Helvetica", "B", 11)
        pdf.cell(0, LINE_HEIGHT, "Explorer", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font("Helvetica", "U", 9)
        pdf.set_text_color(0, 0, 200)
        pdf.multi_cell(0, 5, explorer, link=explorer)
        pdf.set_text_color(0, 0, 0)
    pdf.ln(8)
    pdf.set_font("Helvetica", "I", 9)
    pdf.multi_cell(
        0,
        5,
        "Paid in USDC from the subscriber's escrow on Solana; the signature "
        "above identifies the transfer on chain.",
    )
    return bytes(pdf.output())
