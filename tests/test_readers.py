"""MovieLens and RecBole files read as inputs of every command, with the column mapping inferred."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from seqclean.columns import infer_embed_config
from seqclean.embed import EmbedConfig
from seqclean.io import scan_table

GENRES = "0|1|0|0|0|1|0|0|0|0|0|0|0|0|0|0|0|0|0"


def test_movielens_100k_files(tmp_path: Path) -> None:
    (tmp_path / "u.data").write_text("196\t242\t3\t881250949\n186\t302\t3\t891717742\n")
    (tmp_path / "u.item").write_bytes(
        f"242|Kolya (1996)|24-Jan-1997||http://x|{GENRES}\n302|L.A. Confidential (1997)|01-Jan-1997||http://y|{GENRES}\n".encode(
            "latin-1"
        )
        + "1|Caf\xe9 (1995)|01-Jan-1995||http://z|".encode("latin-1")
        + GENRES.encode()
        + b"\n"
    )
    log = scan_table(tmp_path / "u.data", what="interactions").collect()
    assert log.columns == ["user_id", "item_id", "rating", "timestamp"]
    assert log["timestamp"].dtype == pl.Int64 and log.height == 2
    items = scan_table(tmp_path / "u.item", what="items").collect()
    assert items["item_id"].to_list() == [242, 302, 1]
    assert items["title"][2] == "Café (1995)"  # Latin-1 decoded
    assert items["genres"][0] == "Action, Comedy"


def test_movielens_1m_files(tmp_path: Path) -> None:
    (tmp_path / "ratings.dat").write_text("1::1193::5::978300760\n1::661::3::978302109\n")
    (tmp_path / "movies.dat").write_bytes(
        "1193::One Flew (1975)::Drama\n661::James (1996)::Animation|Children's\n".encode("latin-1")
    )
    log = scan_table(tmp_path / "ratings.dat", what="interactions").collect()
    assert log.columns == ["user_id", "item_id", "rating", "timestamp"] and log["item_id"].to_list() == [1193, 661]
    items = scan_table(tmp_path / "movies.dat", what="items").collect()
    assert items["genres"].to_list() == ["Drama", "Animation, Children's"]


def test_recbole_atomic_files_and_inferred_mapping(tmp_path: Path) -> None:
    inter = tmp_path / "shop.inter"
    item = tmp_path / "shop.item"
    inter.write_text("session_id:token\tproduct_item:token\tts_time:float\na\t1\t10.0\na\t2\t11.0\nb\t1\t5.0\n")
    item.write_text(
        "product_item:token\tname:token_seq\tcat:token_seq\tprice:float\n"
        "1\tred shoe\tshoes\t3.5\n2\tblue hat\thats\t1.0\n"
    )
    lf = scan_table(inter, what="interactions")
    assert lf.collect_schema().names() == ["session_id", "product_item", "ts_time"]
    assert lf.collect_schema()["ts_time"] == pl.Float64 and lf.collect_schema()["product_item"] == pl.String
    cfg = infer_embed_config(EmbedConfig(interactions=inter, items=item, workdir=tmp_path / "wd"))
    assert (cfg.user_col, cfg.item_col, cfg.time_col) == ("session_id", "product_item", "ts_time")
    assert cfg.text_cols == ["name", "cat"]
    # names that exist are kept
    same = infer_embed_config(
        EmbedConfig(interactions=inter, items=item, workdir=tmp_path / "wd", user_col="session_id", text_cols=["name"])
    )
    assert same.text_cols == ["name"]
