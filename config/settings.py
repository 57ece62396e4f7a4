"""Effective settings: environment variables `SPINNERET_*` over an optional TOML file.

The TOML file is `$SPINNERET_CONFIG_FILE`, else `<data_dir>/spinneret.toml` if present.
Names carry their units (`fetch_timeout_s`, `max_response_bytes`).
"""

from __future__ import annotations

import functools
import ipaddress
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from spinneret.config.paths import config_file, default_data_dir
from spinneret.config.secrets import MASK, mask_secrets


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SPINNERET_", extra="ignore")

    # --- paths and services -------------------------------------------------
    data_dir: Path = Field(default_factory=default_data_dir)
    redis_url: str | None = Field(
        default=None,
        description="Redis for the fingerprint store and crawl frontier; unset = embedded server.",
    )
    redis_key_prefix: str = "spinneret"
    redis_cluster: bool = Field(
        default=False,
        description="redis_url names a node of a Redis Cluster (same as a redis+cluster:// URL).",
    )
    broker_url: str | None = Field(
        default=None, description="Celery broker; unset = the Redis above (db of redis_url)."
    )
    transit_redis_url: str | None = Field(
        default=None,
        description="Redis where image bytes wait for a worker (task ledger, imgbytes keys); "
                    "unset = the broker when it is a Redis, else redis_url. Run it without "
                    "persistence: image bytes must not reach a disk.",
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; unset = SQLite file in the data dir."
    )
    log_level: str = "INFO"
    log_json: bool = False

    # --- image decoding and hashing -----------------------------------------
    max_image_pixels: int = Field(default=100_000_000, gt=0)
    max_image_bytes: int = Field(default=50 * 1024 * 1024, gt=0)
    hash_working_size_px: int = Field(
        default=512, ge=64, description="Longest side of the working image perceptual hashes use."
    )
    # Comma-separated in the environment (SPINNERET_ALGORITHMS=sha256,pdq), a list in TOML.
    algorithms: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["sha256", "md5", "phash", "dhash", "pdq", "cropdct"]
    )

    # --- matching (per-algorithm Hamming distances; exact hashes always auto) --
    pdq_auto_distance: int = Field(default=31, ge=0, le=256)
    pdq_review_distance: int = Field(default=40, ge=0, le=256)
    pdq_min_quality: int = Field(default=50, ge=0, le=100)
    phash_auto_distance: int = Field(default=6, ge=0, le=64)
    phash_review_distance: int = Field(default=10, ge=0, le=64)
    dhash_auto_distance: int = Field(default=2, ge=0, le=64)
    dhash_review_distance: int = Field(default=8, ge=0, le=64)
    # Below this quality (0-100) a pHash/dHash never decides alone; it may only corroborate.
    # Calibrated on real images (docs/matching.md, "Default thresholds and why").
    phash_min_quality: int = Field(default=50, ge=0, le=100)
    dhash_min_quality: int = Field(default=60, ge=0, le=100)
    # Beyond review, up to this distance, pHash/dHash matches count (as review) only when
    # another algorithm matches the same image too; 0 turns it off.
    phash_corroborate_distance: int = Field(default=12, ge=0, le=64)
    dhash_corroborate_distance: int = Field(default=12, ge=0, le=64)
    cropdct_auto_distance: int = Field(default=0, ge=0, le=256)
    cropdct_review_distance: int = Field(default=31, ge=0, le=256)
    cropdct_min_quality: int = Field(default=50, ge=0, le=100)
    match_dihedral: bool = Field(
        default=False, description="Also match PDQ's 8 rotations/flips of each image."
    )
    # Flood guard: a list version whose matches reach this share of the images hashed since
    # it was imported (and at least list_flood_min_matches of them), within its first
    # list_flood_window images, is quarantined: its auto matches go to review. 0 = off.
    list_flood_share: float = Field(default=0.05, ge=0, le=1)
    list_flood_min_matches: int = Field(default=20, ge=1)
    list_flood_window: int = Field(default=10_000, ge=1)

    # --- crawler -------------------------------------------------------------
    user_agent: str = "SpinneretBot/0.1 (+{contact_url})"
    contact_url: str = "https://example.org/spinneret-contact"
    allow_private_networks: bool = False
    # Comma-separated CIDRs in the environment (SPINNERET_ALLOWED_NETWORKS=10.1.0.0/16), a
    # list in TOML: networks crawled (and webhooks sent to) although private.
    allowed_networks: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Private networks allowed anyway (CIDRs); the rest stay refused.",
    )
    fetch_timeout_s: float = Field(default=30.0, gt=0)
    connect_timeout_s: float = Field(default=10.0, gt=0)
    max_response_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    max_decompression_ratio: int = Field(
        default=200, gt=1, description="A compressed body expanding more than this is too_large."
    )
    max_links_per_page: int = Field(
        default=10_000, gt=0, description="Links followed per page; the rest are skipped."
    )
    max_images_per_page: int = Field(
        default=10_000, gt=0, description="Images taken per page; the rest are skipped."
    )
    max_redirects: int = Field(default=5, ge=0)
    default_max_pages: int = Field(default=10_000, gt=0)
    default_max_depth: int = Field(default=10, ge=0)
    default_rate_per_s: float = Field(default=10.0, gt=0)
    per_host_concurrency: int = Field(default=4, gt=0)
    crawl_concurrency: int = Field(default=32, gt=0)
    max_retries: int = Field(default=3, ge=0)
    retry_after_max_s: float = Field(default=300.0, ge=0)
    pipeline: Literal["inprocess", "celery"] = Field(
        default="inprocess", description="Where crawled images are hashed and matched."
    )
    hash_processes: int = Field(default=0, ge=0, description="In-process pool size; 0 = CPU count.")
    queue_max_depth: int = Field(default=500, gt=0, description="Crawler pauses above this.")
    crawl_interval_s: float = Field(
        default=24 * 3600, gt=0, description="`spinneret crawler`: recrawl each site this often."
    )

    # --- worker --------------------------------------------------------------
    worker_concurrency: int = Field(default=0, ge=0, description="0 = CPU count.")
    task_time_limit_s: float = Field(default=120.0, gt=0)
    task_soft_time_limit_s: float = Field(default=100.0, gt=0)
    task_max_attempts: int = Field(
        default=3,
        gt=0,
        description="An image task whose worker was killed under it this many times (hard "
        "time limit, memory, crash) is recorded as skipped at its next start.",
    )
    worker_max_memory_kb: int = Field(
        default=1_000_000,
        gt=0,
        description="Memory a worker child may use beyond its hash index before it is replaced.",
    )
    inline_bytes_max: int = Field(
        default=256 * 1024, gt=0, description="Bigger images go via a short-lived Redis key."
    )
    index_sync_interval_s: float = Field(default=0.5, gt=0)
    worker_heartbeat_s: float = Field(
        default=5.0, gt=0,
        description="Each worker process reports its index version in Redis this often "
        "(and at once on a change); the report expires after three intervals.",
    )
    broker_visibility_timeout_s: float = Field(
        default=600.0, gt=0, description="Unacked tasks of a dead worker are redelivered after this."
    )
    redeliver_after_s: float = Field(
        default=900.0,
        gt=0,
        description="An image task not recorded this long after it was sent is sent again.",
    )
    hash_cache_ttl_s: int = Field(
        default=7 * 24 * 3600, gt=0, description="How long hashes are reused by SHA-256."
    )

    # --- reported URLs ------------------------------------------------------
    reports_per_hour: int = Field(
        default=30, gt=0, description="Reports one API token may send per clock hour.")
    # --- notices -------------------------------------------------------------
    notice_batch_window_s: float = Field(default=3600.0, ge=0)
    # How many distinct analysts must confirm a review item before it goes into a notice
    # (and reject it before it is suppressed); 1 = one analyst decides, as before.
    review_consensus: int = Field(default=1, ge=1, le=20)
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_s: float = Field(default=30.0, gt=0)
    mail_from: str = "Spinneret <spinneret@localhost>"
    # Who asks, on what basis, by when: every notice states it (notices/readiness.py refuses
    # to send while the required ones are unset or placeholders; docs/notices.md).
    notice_sender_organisation: str = Field(
        default="", description="Required: the organisation that sends the notices.")
    notice_contact_email: str = Field(
        default="", description="Required: where site owners write (the Reply-To).")
    notice_contact_phone: str = ""
    notice_legal_basis: str = Field(
        default="", description="Required: the law or policy the removal request rests on.")
    notice_policy_url: str = Field(
        default="", description="A page that explains the legal basis or the operator's policy.")
    notice_removal_deadline_s: float = Field(
        default=24 * 3600, gt=0, description="Removal is requested within this time of the notice.")
    notice_signature: str = Field(
        default="", description="Lines under the notice; unset = organisation and contact.")
    notice_demo: bool = Field(
        default=False, description="`spinneret demo` only: marks notices as a demo and allows "
                                   "placeholder senders and loopback links.")
    delivery_max_attempts: int = Field(default=8, gt=0)
    delivery_backoff_base_s: float = Field(default=30.0, gt=0)
    delivery_backoff_max_s: float = Field(default=3600.0, gt=0)
    webhook_timeout_s: float = Field(default=15.0, gt=0)
    secret_key: SecretStr = Field(
        default=SecretStr(""),
        description="Signs owner links and webhooks; unset = generated once in the data dir.",
    )
    owner_link_ttl_s: float = Field(default=60 * 60 * 24 * 60, gt=0)
    public_base_url: str = "http://127.0.0.1:8080"
    notice_send_interval_s: float = Field(
        default=30.0, gt=0, description="How often beat runs the grouping policy and the outbox."
    )
    recheck_poll_interval_s: float = Field(
        default=300.0, gt=0, description="How often beat looks for items due a recheck."
    )
    recheck_interval_s: float = Field(default=6 * 3600, gt=0)
    removed_recheck_interval_s: float = Field(default=7 * 24 * 3600, gt=0)
    reminder_after_s: float = Field(default=3 * 24 * 3600, gt=0)
    max_reminders: int = Field(default=2, ge=0)
    templates_dir: Path | None = Field(
        default=None, description="Operator overrides for notice templates."
    )
    # Who to notify when a site has no registered contact (notices/contacts.py).
    rdap_base_url: str = Field(
        default="https://rdap.org/",
        description="RDAP service asked for the abuse contact of a host's network "
                    "(<base>ip/<address>); rdap.org redirects to the right registry.")
    contact_cache_ttl_s: float = Field(
        default=7 * 24 * 3600, gt=0, description="How long looked-up contacts are reused.")
    contact_negative_cache_ttl_s: float = Field(
        default=6 * 3600, gt=0, description="How long \"no contact found\" is reused.")
    contact_lookup_timeout_s: float = Field(
        default=10.0, gt=0, description="Time cap of one security.txt or RDAP request.")

    # --- API -----------------------------------------------------------------
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8080, gt=0, lt=65536)
    max_upload_bytes: int = Field(default=100 * 1024 * 1024, gt=0)
    # HMA-compatible face (api/hma.py): calls without a token may hash and look up. Off.
    hma_anonymous_read: bool = False
    # Also serve the HMA face at HMA's own root paths (/status, /h, /m, /c), not only /hma.
    hma_root_paths: bool = False

    @field_validator("rdap_base_url")
    @classmethod
    def _check_rdap_base_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL (e.g. https://rdap.org/)")
        return value.strip() if value.strip().endswith("/") else value.strip() + "/"

    @field_validator("algorithms", mode="before")
    @classmethod
    def _split_algorithms(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip().lower() for part in value.split(",") if part.strip()]
        return [str(part).lower() for part in value]

    @field_validator("allowed_networks", mode="before")
    @classmethod
    def _split_networks(cls, value: Any) -> Any:
        parts = value.split(",") if isinstance(value, str) else list(value)
        networks = []
        for part in (str(p).strip() for p in parts):
            if not part:
                continue
            try:
                networks.append(str(ipaddress.ip_network(part, strict=False)))
            except ValueError:
                raise ValueError(f"{part!r} is not a network (CIDR such as 10.0.0.0/8)") from None
        return networks

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_path = config_file()
        if toml_path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)

    # --- derived -------------------------------------------------------------
    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'spinneret.db'}"

    @property
    def effective_user_agent(self) -> str:
        return self.user_agent.format(contact_url=self.contact_url)

    def masked(self) -> dict[str, Any]:
        """Settings as plain values with every secret form masked (config/secrets.py)."""
        secrets = self.secret_values()
        out: dict[str, Any] = {}
        for name, value in self.model_dump().items():
            if isinstance(value, SecretStr):
                value = MASK if value.get_secret_value() else ""
            elif isinstance(value, str):
                value = mask_secrets(value, secrets)
            elif isinstance(value, list):
                value = [mask_secrets(v, secrets) if isinstance(v, str) else v for v in value]
            elif isinstance(value, Path):
                value = str(value)
            out[name] = value
        return out

    def secret_values(self) -> set[str]:
        """The secrets these settings hold: secret fields, URL passwords, and the values of
        password-like URL query parameters."""
        values: set[str] = set()
        for value in self.__dict__.values():
            if isinstance(value, SecretStr):
                values.add(value.get_secret_value())
            elif isinstance(value, str) and "://" in value:
                try:
                    parts = urlsplit(value)
                    values.add(unquote(parts.password or ""))
                except ValueError:
                    continue
                for key, item in parse_qsl(parts.query):
                    if mask_secrets(f"?{key}=x") != f"?{key}=x":
                        values.add(item)
        values.discard("")
        return values


def mask_url_password(url: str) -> str:
    """`url` with its password (userinfo or query parameter) masked; other text unchanged."""
    return mask_secrets(url)


class SettingsError(Exception):
    """A setting has a bad value: one line naming each variable (shown without traceback)."""


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = "SPINNERET_" + "_".join(str(part) for part in error["loc"][:1]).upper()
            problems.append(f"{name}: {error['msg'].removeprefix('Value error, ')}")
        raise SettingsError("bad setting " + "; ".join(problems)) from None


def reset_settings_cache() -> None:
    get_settings.cache_clear()
