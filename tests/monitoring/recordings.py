"""Recorded device data for snmpsim (``OID|tag|value`` lines, sorted by OID): a small switch."""

from __future__ import annotations

from pathlib import Path

SWITCH = {
    "1.3.6.1.2.1.1.1.0": "4|Fleetwatch Test Switch 24-port, firmware 15.2",
    "1.3.6.1.2.1.1.2.0": "6|1.3.6.1.4.1.9.1.1208",
    "1.3.6.1.2.1.1.3.0": "67|12345600",
    "1.3.6.1.2.1.1.4.0": "4|noc@example.com",
    "1.3.6.1.2.1.1.5.0": "4|sim-switch",
    "1.3.6.1.2.1.1.6.0": "4|Closet B",
    **{f"1.3.6.1.2.1.2.2.1.{column}.{index}": value
       for index, up in ((1, True), (2, False))
       for column, value in ((1, f"2|{index}"), (2, f"4|GigabitEthernet0/{index}"), (3, "2|6"),
                             (5, "66|1000000000"), (7, "2|1"), (8, f"2|{1 if up else 2}"),
                             (10, f"65|{1000 * index}"), (16, f"65|{2000 * index}"))},
    **{f"1.3.6.1.2.1.31.1.1.1.{column}.{index}": value
       for index in (1, 2)
       for column, value in ((1, f"4|Gi0/{index}"), (6, f"70|{9876543210 * index}"),
                             (10, f"70|{1234567890 * index}"), (15, "66|1000"),
                             (18, f"4|{'Uplink to core' if index == 1 else 'Printer VLAN'}"))},
    "1.3.6.1.2.1.25.2.3.1.2.1": "6|1.3.6.1.2.1.25.2.1.2",
    "1.3.6.1.2.1.25.2.3.1.3.1": "4|Physical memory",
    "1.3.6.1.2.1.25.2.3.1.4.1": "2|1024",
    "1.3.6.1.2.1.25.2.3.1.5.1": "2|2097152",
    "1.3.6.1.2.1.25.2.3.1.6.1": "2|1048576",
    "1.3.6.1.2.1.25.3.3.1.2.196608": "2|37",
    "1.3.6.1.2.1.25.3.3.1.2.196609": "2|45",
}


def write_recording(path: Path, records: dict[str, str] = SWITCH) -> Path:
    ordered = sorted(records, key=lambda oid: tuple(int(part) for part in oid.split(".")))
    path.write_text("".join(f"{oid}|{records[oid]}\n" for oid in ordered))
    return path
