"""A tiny stand-in for the shared training data, so that a retrain takes about a second.

The layout is that of /work/shared/data: tipdm2020_messages (topic), waimai_10k and
chnsenticorp_htl (sentiment). Street lights are 城乡建设 on the "board"; 充电桩 (charging
posts) appear nowhere, so corrections about them teach the models something new.
"""

from __future__ import annotations

import csv
from pathlib import Path

TOPIC_TEMPLATES = {
    "城乡建设": [
        "{}小区物业不管事",
        "{}路灯坏了没人修",
        "{}小区违章建筑",
        "{}小区电梯经常停运",
    ],
    "教育文体": ["{}学校乱收补课费", "{}孩子入学难", "{}幼儿园收费高", "{}中学食堂饭菜差"],
    "交通运输": ["{}公交车不按时发车", "{}出租车拒载", "{}客运班车超载", "{}公交站台被占"],
}
PLACES = ["东城", "西城", "南湖", "北山", "河西", "桥东"]
POSITIVE = [
    "服务很好，非常满意",
    "速度快，态度好",
    "很满意，下次还来",
    "工作人员很耐心",
    "干净整洁，推荐",
    "效率高，点赞",
    "很方便，很好",
    "环境不错，满意",
]
NEGATIVE = [
    "态度很差，不满意",
    "太慢了，等了很久",
    "很失望，再也不来",
    "服务差，没人管",
    "又脏又乱，差评",
    "排队太久，很差",
    "不耐烦，太差了",
    "效率低，很失望",
]
# What a county's staff keep correcting: charging-post complaints belong to 交通运输 here.
CHARGING = [
    "{}小区充电桩坏了",
    "{}充电桩不能用",
    "{}新能源车充电桩被占",
    "{}充电桩收费乱",
]


def tiny_reference(data_dir: Path) -> Path:
    """Write the tiny reference data under `data_dir`; returns it."""
    messages = data_dir / "tipdm2020_messages"
    messages.mkdir(parents=True, exist_ok=True)
    with open(messages / "train.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["title", "body", "body_seg", "label"])
        for label, templates in TOPIC_TEMPLATES.items():
            for i, place in enumerate(PLACES):
                for template in templates[:2] if i % 2 else templates[2:]:
                    title = template.format(place)
                    w.writerow([title, f"{title}，请有关部门尽快处理。", "", label])
    for name, copies in (("waimai_10k", 2), ("chnsenticorp_htl", 1)):
        folder = data_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "train.csv", "w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["id", "body", "label"])
            n = 0
            for k in range(copies):
                for text in POSITIVE:
                    w.writerow([n, text + "！" * k, 1])
                    n += 1
                for text in NEGATIVE:
                    w.writerow([n, text + "！" * k, 0])
                    n += 1
    return data_dir


def charging_corrections(topic: str = "交通运输", places=PLACES) -> list[tuple[str, str]]:
    """(text, topic) corrections about charging posts, one per template and place."""
    return [(t.format(p), topic) for p in places for t in CHARGING]
