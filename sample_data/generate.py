"""Generate seqclean's redistributable sample data (seeded, so the committed files are reproducible).

    python sample_data/generate.py            # writes sample_data/*.parquet

A synthetic shop: 20 categories of products with human-readable titles; users with a few interests
(categories, and preferred product types within them) that drift over time; item popularity that
follows a power law. About 8% of interactions are planted noise of three kinds:
- `random`: a uniformly random catalogue item (accidental click),
- `popular`: a popularity-sampled item outside the user's interests (clickbait),
- `shared`: a short burst from another person's interests (shared account).
The ground truth goes to `noise_labels.parquet` (user_id, timestamp, is_noise, noise_kind); the
log itself carries no hint of it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import polars as pl

CATEGORIES: dict[str, tuple[list[str], list[str]]] = {
    "Hiking & Camping": (
        [
            "Backpacking Tent",
            "Sleeping Bag",
            "Trekking Poles",
            "Hiking Boots",
            "Camp Stove",
            "Headlamp",
            "Daypack",
            "Water Filter",
        ],
        ["Ultralight", "Waterproof", "3-Season", "Alpine", "Trail", "Compact", "Insulated", "Rugged"],
    ),
    "Baking": (
        [
            "Stand Mixer",
            "Sourdough Starter Kit",
            "Bundt Pan",
            "Rolling Pin",
            "Pastry Brush",
            "Loaf Tin",
            "Cookie Cutter Set",
            "Cake Decorating Kit",
        ],
        ["Nonstick", "Professional", "Silicone", "Classic", "Heavy-Duty", "Artisan", "Mini", "Deluxe"],
    ),
    "Coffee & Tea": (
        [
            "Espresso Machine",
            "Pour-Over Kettle",
            "Burr Coffee Grinder",
            "Matcha Whisk Set",
            "French Press",
            "Loose Leaf Oolong Tea",
            "Cold Brew Maker",
            "Single-Origin Coffee Beans",
        ],
        ["Barista", "Gooseneck", "Dark Roast", "Organic", "Stainless", "Japanese", "Programmable", "Ceramic"],
    ),
    "Video Games": (
        [
            "Open-World RPG",
            "Racing Game",
            "Strategy Game",
            "Co-op Shooter",
            "Puzzle Platformer",
            "Fighting Game",
            "Survival Horror Game",
            "Football Simulator",
        ],
        [
            "Deluxe Edition",
            "Remastered",
            "Game of the Year Edition",
            "Collector's Edition",
            "Indie",
            "Multiplayer",
            "Retro",
            "Next-Gen",
        ],
    ),
    "Gardening": (
        [
            "Pruning Shears",
            "Raised Garden Bed",
            "Heirloom Tomato Seeds",
            "Watering Can",
            "Compost Bin",
            "Hand Trowel",
            "Hose Nozzle",
            "Potting Soil",
        ],
        ["Organic", "Ergonomic", "Cedar", "Galvanised", "Heavy-Duty", "Seed-Starting", "Perennial", "Patio"],
    ),
    "Fitness": (
        [
            "Yoga Mat",
            "Kettlebell",
            "Resistance Bands",
            "Adjustable Dumbbells",
            "Foam Roller",
            "Jump Rope",
            "Pull-Up Bar",
            "Protein Shaker",
        ],
        ["Non-Slip", "Cast Iron", "Home Gym", "Extra-Thick", "Speed", "Doorway", "Heavy", "Travel"],
    ),
    "Baby & Toddler": (
        [
            "Stroller",
            "Baby Monitor",
            "Teething Toy",
            "Diaper Bag",
            "Crib Mobile",
            "Sippy Cup",
            "Baby Carrier",
            "Baby Bath Seat",
        ],
        ["Lightweight", "Video", "BPA-Free", "Convertible", "Newborn", "Toddler", "Soft", "Ergonomic"],
    ),
    "Dog Supplies": (
        [
            "Dog Leash",
            "Chew Toy for Dogs",
            "Orthopedic Dog Bed",
            "Puppy Training Pads",
            "No-Pull Dog Harness",
            "Grain-Free Dog Food",
            "Dog Grooming Brush",
            "Dog Crate",
        ],
        ["Reflective", "Durable", "Large Breed", "Puppy", "Washable", "Senior", "Chew-Proof", "Travel"],
    ),
    "Cat Supplies": (
        [
            "Cat Tree",
            "Sisal Scratching Post",
            "Self-Cleaning Litter Box",
            "Catnip Mouse Toy",
            "Cat Water Fountain",
            "Feather Wand Cat Toy",
            "Wet Cat Food",
            "Cat Carrier",
        ],
        ["Multi-Level", "Kitten", "Indoor", "Quiet", "Interactive", "Grain-Free", "Cozy", "Covered"],
    ),
    "Photography": (
        [
            "Prime Camera Lens",
            "Carbon Fibre Tripod",
            "Camera Sling Bag",
            "ND Lens Filter",
            "Speedlight Flash",
            "SD Memory Card",
            "Mirrorless Camera Body",
            "LED Light Panel",
        ],
        ["50mm", "Travel", "Weatherproof", "Pro", "Variable", "High-Speed", "Full-Frame", "Bi-Colour"],
    ),
    "Mystery Books": (
        [
            "Detective Novel",
            "Cozy Mystery",
            "Crime Thriller",
            "Whodunit",
            "Police Procedural",
            "Noir Novel",
            "Locked-Room Mystery",
            "Murder Mystery Box Set",
        ],
        [
            "The Lighthouse Murders:",
            "Death at the Vicarage:",
            "The Silent Witness:",
            "A Body in the Library:",
            "The Last Alibi:",
            "Midnight on the Moor:",
            "The Poisoned Pen:",
            "Shadows over Baker Street:",
        ],
    ),
    "Science Fiction Books": (
        [
            "Space Opera Novel",
            "Cyberpunk Thriller",
            "Time Travel Novel",
            "First Contact Novel",
            "Dystopian Novel",
            "Hard Sci-Fi Epic",
            "Robot Uprising Saga",
            "Galactic Empire Trilogy",
        ],
        [
            "Stars Beyond Andromeda:",
            "Neon Circuit:",
            "The Chronos Paradox:",
            "Signal from Proxima:",
            "The Last Colony:",
            "Quantum Drift:",
            "Iron Minds:",
            "Empire of Suns:",
        ],
    ),
    "Cookware": (
        [
            "Cast Iron Skillet",
            "Chef's Knife",
            "Dutch Oven",
            "Carbon Steel Wok",
            "Saucepan Set",
            "Cutting Board",
            "Pressure Cooker",
            "Roasting Pan",
        ],
        ["Pre-Seasoned", "Forged", "Enamelled", "Hand-Hammered", "Tri-Ply", "End-Grain", "Electric", "Induction"],
    ),
    "Skincare": (
        [
            "Daily Moisturiser",
            "Mineral Sunscreen SPF 50",
            "Vitamin C Serum",
            "Gentle Foaming Cleanser",
            "Retinol Night Cream",
            "Hydrating Toner",
            "Clay Face Mask",
            "Lip Balm",
        ],
        [
            "Fragrance-Free",
            "Hyaluronic",
            "Sensitive Skin",
            "Brightening",
            "Anti-Ageing",
            "Oil-Free",
            "Soothing",
            "Vegan",
        ],
    ),
    "Cycling": (
        [
            "Bike Helmet",
            "Rechargeable Bike Lights",
            "Cycling Jersey",
            "Floor Bike Pump",
            "Chain Lube",
            "Bike Lock",
            "Padded Cycling Shorts",
            "Bike Repair Kit",
        ],
        ["Aero", "USB", "Breathable", "High-Pressure", "Wet-Weather", "Heavy-Duty", "Road", "Mountain Bike"],
    ),
    "Music Gear": (
        [
            "Acoustic Guitar Strings",
            "Clip-On Guitar Tuner",
            "Concert Ukulele",
            "Maple Drumsticks",
            "Keyboard Stand",
            "Guitar Capo",
            "Condenser Microphone",
            "Guitar Effects Pedal",
        ],
        ["Phosphor Bronze", "Chromatic", "Beginner", "5A", "Adjustable", "Quick-Change", "Studio", "Overdrive"],
    ),
    "Home Office": (
        [
            "Standing Desk",
            "Ergonomic Office Chair",
            "Monitor Arm",
            "LED Desk Lamp",
            "Dotted Notebook",
            "Fountain Pen",
            "Desk Organiser",
            "Wireless Keyboard",
        ],
        ["Electric", "Mesh", "Dual", "Dimmable", "A5", "Fine Nib", "Bamboo", "Low-Profile"],
    ),
    "Fishing": (
        [
            "Spinning Fishing Rod",
            "Tackle Box",
            "Fly Fishing Lures",
            "Baitcasting Reel",
            "Chest Waders",
            "Fishing Line",
            "Landing Net",
            "Fish Finder",
        ],
        ["Telescopic", "Waterproof", "Hand-Tied", "Saltwater", "Breathable", "Braided", "Rubber Mesh", "Sonar"],
    ),
    "Board Games & Puzzles": (
        [
            "Strategy Board Game",
            "1000-Piece Jigsaw Puzzle",
            "Party Card Game",
            "Cooperative Board Game",
            "Chess Set",
            "Escape Room Game",
            "Deck-Building Game",
            "Trivia Game",
        ],
        ["Family", "Landscape", "Adult", "Fantasy", "Wooden", "Mystery", "Expansion", "Classic"],
    ),
    "Smart Home": (
        [
            "Smart Plug",
            "Mesh Wi-Fi Router",
            "Smart Speaker",
            "Wireless Security Camera",
            "Smart Thermostat",
            "Video Doorbell",
            "Smart LED Bulb",
            "Robot Vacuum",
        ],
        ["Voice-Controlled", "Tri-Band", "Compact", "Outdoor", "Learning", "HD", "Colour-Changing", "Self-Emptying"],
    ),
}
BRANDS = [
    "Northpeak",
    "Alder & Co",
    "Brightwell",
    "Kestrel",
    "Lumen",
    "Oakridge",
    "Pinnacle",
    "Quill",
    "Riverstone",
    "Solace",
    "Tidewater",
    "Vantage",
    "Wren",
    "Zephyr",
    "Marlow",
    "Ember",
]


def make_items(rng: np.random.Generator, n_items: int) -> pl.DataFrame:
    cats = list(CATEGORIES)
    rows = []
    seen: set[str] = set()
    k = 0
    while len(rows) < n_items:
        cat = cats[k % len(cats)]
        k += 1
        nouns, mods = CATEGORIES[cat]
        ni = int(rng.integers(len(nouns)))
        mod = mods[int(rng.integers(len(mods)))]
        brand = BRANDS[int(rng.integers(len(BRANDS)))]
        if mod.endswith(":"):  # books: "<Title>: <kind>" by an author-like brand
            title = f"{mod} {nouns[ni]} by {brand}"
        else:
            title = f"{brand} {mod} {nouns[ni]}"
        if title in seen:
            continue
        seen.add(title)
        rows.append((cat, ni, title, float(np.round(rng.lognormal(3.0, 0.8), 2))))
    return pl.DataFrame(
        {
            "item_id": np.arange(1, n_items + 1, dtype=np.int64),
            "title": [r[2] for r in rows],
            "category": [r[0] for r in rows],
            "kind": np.array([r[1] for r in rows], dtype=np.int32),
            "price": [r[3] for r in rows],
        }
    )


def make_log(rng: np.random.Generator, items: pl.DataFrame, n_users: int, noise_rate: float) -> pl.DataFrame:
    cats = items["category"].to_numpy()
    kinds = items["kind"].to_numpy()
    ids = items["item_id"].to_numpy()
    cat_names = list(CATEGORIES)
    cat_idx = np.array([cat_names.index(c) for c in cats])
    pop = rng.pareto(1.2, size=ids.size) + 1.0  # power-law popularity
    pop_p = pop / pop.sum()
    by_cat = [np.flatnonzero(cat_idx == c) for c in range(len(cat_names))]

    def pick_interest() -> tuple[int, np.ndarray]:
        c = int(rng.integers(len(cat_names)))
        liked = rng.choice(8, size=int(rng.integers(2, 5)), replace=False)
        return c, liked

    def draw(c: int, liked: np.ndarray) -> int:
        pool = by_cat[c]
        w = pop[pool] * np.where(np.isin(kinds[pool], liked), 6.0, 1.0)
        return int(pool[rng.choice(pool.size, p=w / w.sum())])

    users, item_col, ts, is_noise, kind = [], [], [], [], []
    t0 = 1_640_995_200  # 2022-01-01
    for u in range(1, n_users + 1):
        n = int(np.clip(rng.lognormal(np.log(22), 0.6), 5, 150))
        interests = [pick_interest() for _ in range(int(rng.integers(2, 4)))]
        weights = rng.dirichlet(np.ones(len(interests)) * 2)
        t = t0 + int(rng.integers(0, 365 * 86400))
        j = 0
        burst = 0
        other = pick_interest()
        while j < n:
            if rng.random() < 0.04:  # interest drift: one interest is replaced by a new one
                interests[int(rng.integers(len(interests)))] = pick_interest()
            t += int(rng.exponential(36 * 3600)) + 1
            if burst > 0:
                item, label = draw(*other), "shared"
                burst -= 1
            elif rng.random() < noise_rate:
                r = rng.random()
                if r < 0.5:
                    item, label = int(rng.integers(ids.size)), "random"
                elif r < 0.8:
                    mine = {c for c, _ in interests}
                    while True:
                        item = int(rng.choice(ids.size, p=pop_p))
                        if cat_idx[item] not in mine:
                            break
                    label = "popular"
                else:
                    other = pick_interest()
                    item, label = draw(*other), "shared"
                    burst = int(rng.integers(0, 2))
            else:
                c, liked = interests[rng.choice(len(interests), p=weights)]
                item, label = draw(c, liked), ""
            users.append(u)
            item_col.append(int(ids[item]))
            ts.append(t)
            is_noise.append(label != "")
            kind.append(label or None)
            j += 1
    n_rows = len(users)
    return pl.DataFrame(
        {
            "user_id": np.array(users, dtype=np.int64),
            "item_id": np.array(item_col, dtype=np.int64),
            "timestamp": np.array(ts, dtype=np.int64),
            "rating": np.round(rng.uniform(1, 5, n_rows) * 2) / 2,
            "device": rng.choice(["ios", "android", "web"], size=n_rows, p=[0.4, 0.35, 0.25]),
            "is_noise": is_noise,
            "noise_kind": kind,
        }
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--items", type=int, default=1500)
    ap.add_argument("--noise-rate", type=float, default=0.075)
    ap.add_argument("--seed", type=int, default=20251123)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    items = make_items(rng, args.items)
    log = make_log(rng, items, args.users, args.noise_rate).sort(["timestamp", "user_id"])
    args.out.mkdir(parents=True, exist_ok=True)
    items.drop("kind").write_parquet(args.out / "items.parquet")
    log.drop("is_noise", "noise_kind").write_parquet(args.out / "interactions.parquet")
    log.select("user_id", "timestamp", "is_noise", "noise_kind").sort(["user_id", "timestamp"]).write_parquet(
        args.out / "noise_labels.parquet"
    )
    print(
        f"{log.height} interactions, {args.users} users, {items.height} items, "
        f"noise share {log['is_noise'].mean():.3f} -> {args.out}"
    )


if __name__ == "__main__":
    main()
