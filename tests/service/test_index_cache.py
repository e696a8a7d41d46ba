"""The match index kept in the state directory: read back when the registry files, the allowlist, alertd and
Python are the same, built again otherwise; a corrupted entry, or one naming code outside an index, is never
trusted."""

from __future__ import annotations

import io
import os
import pickle
import threading
from pathlib import Path

import pytest
from configs import copy_example

from alertd.config.files import Config, load_config
from alertd.config.registry import RegistryCache
from alertd.domain.values import FeedKind, Indicator, IndicatorType, Observation
from alertd.match.benign import default_benign
from alertd.match.index import MatchIndex
from alertd.service import index_cache
from alertd.service.setup import keep_index_later, make_index, prepare
from alertd.store.statecache import StateCache, entry_key


def persistent_config(tmp_path: Path) -> Config:
    """The example configuration (copied once into ``tmp_path``) loaded as the CLI and the daemon load it."""
    path = tmp_path / "config" / "alertd.yaml"
    if not path.exists():
        copy_example(tmp_path / "config")
    return load_config(path, RegistryCache(persist=True), warnings=False)


def observations() -> list[Observation]:
    """Indicators that meet the example registry's networks, domains and names."""
    return [
        Observation(
            feed="f",
            entry="1",
            kind=FeedKind.COMPROMISE,
            title="CHU de Garonne listed",
            text="Le CHU de Garonne figure sur le site de fuite.",
            indicators=(
                Indicator(IndicatorType.IPV4, "84.247.157.10"),
                Indicator(IndicatorType.DOMAIN, "vpn.chu-garonne.example"),
                Indicator(IndicatorType.IPV4, "8.8.8.8"),
            ),
        )
    ]


def entry(config: Config) -> Path:
    return config.settings.state_dir / "cache" / index_cache.ENTRY


def test_read_back_when_nothing_changed(tmp_path: Path) -> None:
    config = persistent_config(tmp_path)
    assert config.registry_digest
    built = make_index(config)
    assert entry(config).is_file() and oct(entry(config).stat().st_mode)[-3:] == "600"
    again = persistent_config(tmp_path)
    key = index_cache.index_key(again.registry_digest, None)
    read, read_back = index_cache.cached_index(StateCache(again.settings.state_dir), key, again.registry, _never)
    assert read_back
    assert read.match(observations()) == built.match(observations())
    # The index serves the registry just loaded: its own establishments, not copies of them.
    ests = again.registry.establishments
    assert read._registry is again.registry
    assert all(ests[est.id] is est for est in read._registry.establishments.values())


def _never() -> MatchIndex:
    raise AssertionError("the index was built again")


def test_built_again_when_a_registry_file_changed(tmp_path: Path) -> None:
    config = persistent_config(tmp_path)
    make_index(config)
    registry_file = next(iter(config.registry.files))
    registry_file.write_text(registry_file.read_text().replace("84.247.157.0/24", "84.247.158.0/24"))
    changed = persistent_config(tmp_path)
    assert changed.registry_digest != config.registry_digest
    key = index_cache.index_key(changed.registry_digest, None)
    fresh = MatchIndex(changed.registry)
    index, read_back = index_cache.cached_index(
        StateCache(changed.settings.state_dir), key, changed.registry, lambda: fresh
    )
    assert not read_back and index is fresh
    assert index.match(observations()).findings != MatchIndex(config.registry).match(observations()).findings


def test_corrupted_or_foreign_entries_are_built_again(tmp_path: Path) -> None:
    config = persistent_config(tmp_path)
    make_index(config)
    key = index_cache.index_key(config.registry_digest, None)
    cache = StateCache(config.settings.state_dir)
    path = entry(config)
    good = path.read_bytes()

    built = make_index(config)

    def attempt() -> bool:
        index, read_back = index_cache.cached_index(cache, key, config.registry, lambda: built)
        assert read_back or index is built
        return read_back

    path.write_bytes(good[: len(good) // 2])  # truncated
    assert not attempt()
    assert attempt()  # written anew
    # A payload whose hash is right (the cache's own check passes) but that names a function to call: refused by
    # the unpickler, whatever the function.
    for payload in (pickle.dumps(os.system), pickle.dumps(print), b"\x80\x05not a pickle"):
        cache.write(index_cache.ENTRY, key, payload)
        assert not attempt()
    assert attempt()  # the one built above was written back


def test_only_alertd_classes_and_listed_names_are_resolved(tmp_path: Path) -> None:
    config = persistent_config(tmp_path)
    unpickler = index_cache._Unpickler(io.BytesIO(b""), config.registry)
    assert unpickler.find_class("alertd.match.index", "MatchIndex") is MatchIndex
    for module, name in (("alertd.service.cli", "main"), ("os", "system"), ("builtins", "eval"), ("subprocess", "run")):
        with pytest.raises(pickle.UnpicklingError):
            unpickler.find_class(module, name)


def test_not_cached_without_a_persistent_registry_cache(tmp_path: Path) -> None:
    config = load_config(copy_example(tmp_path / "config"), warnings=False)
    assert config.registry_digest == ""
    make_index(config)
    assert not (config.settings.state_dir / "cache").exists()


def test_benign_lists_read_back_equal(tmp_path: Path) -> None:
    cache = StateCache(tmp_path / "state")
    first = index_cache.benign_lists(cache)
    assert first == default_benign() and cache.written == 1
    again = index_cache.benign_lists(cache)
    assert cache.hits == 1 and again == first and again.label_of("8.8.8.8") == first.label_of("8.8.8.8")
    key = entry_key(index_cache.BENIGN_FORMAT, index_cache._benign_version())
    cache.write(index_cache.BENIGN_ENTRY, key, b'["benign-lists-1", [[4, "x"]], {}, []]')  # not of the form
    assert index_cache.benign_lists(cache) == first


def test_kept_later_in_a_thread_of_its_own(tmp_path: Path) -> None:
    """The daemon keeps a newly built index after it serves; a temporary file left by a stopped write goes."""
    config = persistent_config(tmp_path)
    prepared = prepare(config, keep=False)
    assert prepared.index_built and not entry(config).exists()
    left = entry(config).with_name(f".{index_cache.ENTRY}.stopped")
    left.write_bytes(b"half")
    keep_index_later(prepared)
    for thread in threading.enumerate():
        if thread.name == "keep-index":
            thread.join()
    assert entry(config).is_file() and not left.exists()
    assert not prepare(persistent_config(tmp_path)).index_built  # read back
