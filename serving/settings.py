"""The one settings class: every option, read from `COPYLOOP_*` environment variables.

Nothing else in copyloop reads the environment for its own options: the libraries take folders,
URLs and files as arguments, and the command line and the API pass them in from here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy import Engine

from feedback.contact_keys import ContactKeyring, keyring_from_hex
from feedback.db import default_key_file, make_engine, normalise_url
from feedback.webhook_platforms import WebhookKeys
from feedback.webhook_signatures import load_sendgrid_public_key
from genai.brand.fetch_policy import FetchPolicy
from genai.errors import InvalidInputError, invalid_input
from genai.paths import user_cache_dir, user_data_dir

if TYPE_CHECKING:
    from feedback.rewards import CrossEncoderTraining

__all__ = ["Settings", "load_settings"]


class Settings(BaseSettings):
    """copyloop's configuration; see the README for each variable."""

    model_config = SettingsConfigDict(env_prefix="COPYLOOP_", env_ignore_empty=True, extra="ignore")

    data_dir: Path = Field(default_factory=user_data_dir, description="Database, reports and outputs.")
    cache_dir: Path = Field(default_factory=user_cache_dir, description="Converted model checkpoints.")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; SQLite in data_dir if unset.")
    contact_key_file: Path | None = Field(
        default=None,
        description="Key file that pseudonymises contacts, created on first use; unset: beside an SQLite "
        "database file, else contact.key in data_dir. Back it up apart from the database.",
    )
    contact_key: SecretStr | None = Field(
        default=None,
        description="The contact master key itself (64 hex digits), e.g. from a secrets manager; wins over "
        "contact_key_file.",
    )
    backend: str = Field(default="transformers", description="transformers, vllm or fake.")
    model: str | None = Field(
        default=None, description="Local checkpoint folder; the embedded model if unset."
    )
    adapter: str | None = Field(
        default=None,
        description="LoRA adapter: a shipped name or a folder; unset: the shipped task adapter on the "
        "embedded model, none on another; 'none': never.",
    )
    max_adapters: int = Field(
        default=2,
        ge=0,
        description="Other adapters the embedded backend keeps loaded for requests that name one "
        "(each a copy of the model in memory).",
    )
    device: str = Field(default="auto", description="auto, cpu or cuda[:N] for the transformers backend.")
    dtype: str = Field(default="auto", description="auto, bfloat16, float16 or float32.")
    lean_decode: bool | None = Field(
        default=None,
        description="Gemma 3 on a CPU through the lean decoder; unset: wherever it applies, false: never.",
    )
    native_kernels: bool | None = Field(
        default=None,
        description="The lean decoder's C kernels for bf16 steps; unset: where a C compiler builds them, "
        "false: never.",
    )
    vllm_url: str = Field(default="http://127.0.0.1:8000/v1", description="Base URL of a vLLM server.")
    vllm_api_key: str | None = Field(default=None, description="API key the vLLM server expects, if any.")
    max_batch: int = Field(default=32, ge=1, description="Most candidates in one generate call.")
    max_queue: int = Field(default=64, ge=1, description="Most requests waiting for the model.")
    generation_timeout_s: float = Field(default=600.0, gt=0, description="Deadline of one generation.")
    reward_weight: float = Field(
        default=1.0,
        ge=0,
        le=5,
        description="Weight of the workspace's reward model in the ranking; 0 leaves it out.",
    )
    reward_base_model: Path | None = Field(
        default=None,
        description="Checkpoint folder cross-encoder reward models are fine-tuned from; the embedded "
        "all-MiniLM-L6-v2 if unset.",
    )
    host: str = Field(default="127.0.0.1", description="Address `copyloop serve` listens on.")
    port: int = Field(default=8000, ge=0, le=65535, description="Port `copyloop serve` listens on.")
    run_migrations_on_start: bool = Field(
        default=True, description="Upgrade the database schema when the API server starts."
    )
    max_body_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024, description="Largest request body the API accepts."
    )
    rate_limit_per_s: float = Field(
        default=100.0, ge=0, description="Requests per second each API key may sustain; 0 turns it off."
    )
    rate_limit_burst: int = Field(default=200, ge=1, description="Requests an API key may send at once.")
    auth_failures_per_min: float = Field(
        default=10.0,
        ge=0,
        description="Failed API-key attempts a client address may sustain per minute; past the burst it "
        "gets 429 until it is back under; 0 turns it off.",
    )
    auth_failure_burst: int = Field(
        default=20, ge=1, description="Failed API-key attempts a client address may make at once."
    )
    max_header_bytes: int = Field(
        default=16 * 1024, ge=1024, description="Largest request headers, all together, the API reads."
    )
    max_concurrent_generations: int = Field(
        default=4, ge=1, description="Generations the API runs at once; more wait for a free slot."
    )
    max_batch_events: int = Field(
        default=10_000, ge=1, description="Most feedback or outcome events in one API batch."
    )
    mandrill_webhook_key: str | None = Field(
        default=None,
        description="Mailchimp Transactional's webhook key; unset: Mandrill deliveries unsigned.",
    )
    mandrill_webhook_url: str | None = Field(
        default=None,
        description="The webhook URL exactly as entered in Mailchimp Transactional (it signs that URL); "
        "unset: the URL the request came to.",
    )
    mailgun_webhook_signing_key: str | None = Field(
        default=None, description="Mailgun's HTTP webhook signing key; unset: Mailgun deliveries unsigned."
    )
    sendgrid_webhook_public_key: str | None = Field(
        default=None,
        description="SendGrid's signed event webhook verification key (base64 DER); unset: unsigned.",
    )
    klaviyo_webhook_secret: str | None = Field(
        default=None, description="A Klaviyo system webhook's secret; unset: Klaviyo deliveries unsigned."
    )
    webhook_tolerance_s: float = Field(
        default=300.0, gt=0, description="Oldest signed webhook timestamp accepted, in seconds."
    )
    brand_fetch_timeout_s: float = Field(default=10.0, gt=0, description="Deadline to fetch a brand page.")
    monitoring_config: Path | None = Field(
        default=None, description="YAML file of monitoring thresholds, merged over the shipped ones."
    )
    brand_fetch_allow_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Host names or IP networks a brand page may be fetched from although they are not "
        "public (comma-separated); by default only public addresses are fetched.",
    )
    brand_fetch_allow_ports: Annotated[list[Annotated[int, Field(gt=0, lt=65536)]], NoDecode] = Field(
        default_factory=list,
        description="Ports a brand page may be fetched from besides 80 and 443 (comma-separated).",
    )

    prompt_arms: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Prompt versions live at once (comma-separated, e.g. 2,3): each generation picks one "
        "by Thompson sampling on their acceptance rates; by default every generation uses the latest.",
    )

    adapter_arms: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Adapters live at once (comma-separated names, 'none' for the base model): each "
        "generation that names no adapter picks one by Thompson sampling on their acceptance rates.",
    )

    @field_validator("adapter_arms")
    @classmethod
    def _adapter_names(cls, value: list[str]) -> list[str]:
        """Each arm an adapter's name (whether the backend has it is checked at each choice)."""
        from genai.tuning.adapters import ADAPTER_NAME

        bad = [v for v in value if not ADAPTER_NAME.fullmatch(v)]
        if bad:
            raise ValueError(f"not adapter names: {', '.join(bad)}")
        if len(set(value)) != len(value):
            raise ValueError(f"adapters repeat: {', '.join(value)}")
        return value

    @field_validator("prompt_arms")
    @classmethod
    def _known_prompt_versions(cls, value: list[str]) -> list[str]:
        """Each arm a prompt version that exists, checked when the settings load."""
        from genai.prompts import DEFAULT_PROMPT, list_prompts

        known = list_prompts().get(DEFAULT_PROMPT, [])
        unknown = [v for v in value if v not in known]
        if unknown:
            raise ValueError(f"no prompt version {', '.join(unknown)} (there are {', '.join(known)})")
        if len(set(value)) != len(value):
            raise ValueError(f"prompt versions repeat: {', '.join(value)}")
        return value

    @field_validator(
        "brand_fetch_allow_hosts", "brand_fetch_allow_ports", "prompt_arms", "adapter_arms", mode="before"
    )
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        """A comma-separated environment variable as a list."""
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("brand_fetch_allow_hosts")
    @classmethod
    def _hosts_or_networks(cls, value: list[str]) -> list[str]:
        """Each entry a host name or an IP network, checked when the settings load."""
        try:
            FetchPolicy(allow_hosts=tuple(value))
        except InvalidInputError as exc:
            raise ValueError(exc.message) from None
        return value

    @field_validator("sendgrid_webhook_public_key")
    @classmethod
    def _p256_key(cls, value: str | None) -> str | None:
        """SendGrid's key checked when the settings load, not on the first delivery."""
        if value is not None:
            try:
                load_sendgrid_public_key(value)
            except InvalidInputError as exc:
                raise ValueError(exc.message) from None
        return value

    def webhook_keys(self) -> WebhookKeys:
        """The e-mail platforms' webhook signing keys, one set for the deployment."""
        return WebhookKeys(
            mandrill_key=self.mandrill_webhook_key,
            mandrill_url=self.mandrill_webhook_url,
            mailgun_signing_key=self.mailgun_webhook_signing_key,
            sendgrid_public_key=self.sendgrid_webhook_public_key,
            klaviyo_secret=self.klaviyo_webhook_secret,
            tolerance_s=self.webhook_tolerance_s,
        )

    def resolved_database_url(self) -> str:
        """The database to use: `database_url`, else SQLite in `data_dir`."""
        return self.database_url or f"sqlite:///{self.data_dir / 'copyloop.db'}"

    def fetch_policy(self) -> FetchPolicy:
        """What brand pages and logos may be fetched from: public hosts on default ports, plus the allowed."""
        return FetchPolicy(
            allow_hosts=tuple(self.brand_fetch_allow_hosts), allow_ports=tuple(self.brand_fetch_allow_ports)
        )

    def contact_keys(self) -> ContactKeyring | Path:
        """The contact keyring, or the key file that holds it (see `feedback.contact_keys`)."""
        if self.contact_key is not None:
            return keyring_from_hex(self.contact_key.get_secret_value())
        if self.contact_key_file is not None:
            return self.contact_key_file
        found = default_key_file(normalise_url(self.resolved_database_url()), self.data_dir)
        return found if found is not None else self.data_dir / "contact.key"

    def make_engine(self) -> Engine:
        """An engine on the configured database, hashing contacts with the configured key."""
        return make_engine(self.resolved_database_url(), contact_keys=self.contact_keys())

    def backend_options(self) -> dict[str, object]:
        """Keyword arguments for `genai.backends.get_backend(self.backend, ...)`."""
        adapter_dirs = [self.adapters_dir]
        if self.backend == "vllm":
            return {
                "base_url": self.vllm_url,
                "api_key": self.vllm_api_key,
                "model": self.model,
                "adapter": self.adapter,
                "adapter_dirs": adapter_dirs,
            }
        if self.backend == "transformers":
            return {
                "model": self.model,
                "adapter": self.adapter,
                "adapter_dirs": adapter_dirs,
                "max_adapters": self.max_adapters,
                "device": self.device,
                "dtype": self.dtype,
                "lean_decode": self.lean_decode,
                "native_kernels": self.native_kernels,
                "max_batch": self.max_batch,
                "max_queue": self.max_queue,
                "timeout_s": self.generation_timeout_s,
                "cache_dir": self.cache_dir,
            }
        if self.backend == "fake":
            return {"adapter_dirs": adapter_dirs}
        return {}

    def cross_encoder_training(self) -> CrossEncoderTraining:
        """Where cross-encoder reward models are written (their folders relative to `data_dir`) and
        the checkpoint they start from."""
        from feedback.rewards import CrossEncoderTraining
        from genai.reward_cross import default_base_path

        return CrossEncoderTraining(root=self.data_dir, base=self.reward_base_model or default_base_path())

    @property
    def adapters_dir(self) -> Path:
        """Where adapters trained here live (one folder each); requests may name them."""
        return self.data_dir / "adapters"


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment with `overrides` on top (None leaves a value as it is).

    A value that does not validate raises InvalidInputError naming the setting.
    """
    try:
        return Settings(**{name: value for name, value in overrides.items() if value is not None})
    except ValidationError as exc:
        raise invalid_input(exc) from None
