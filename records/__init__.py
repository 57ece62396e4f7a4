"""Records: SQL storage for sites, crawls, images seen, matches, reviews, notices, deliveries,
the audit log and API tokens (SQLAlchemy 2, sync ORM; Alembic migrations shipped inside).

Entry points:
    records.db.Database(url) / Database.from_settings(settings): engine, `.session()`,
        `.upgrade()` (idempotent, safe from concurrent processes)
    records.sites.SiteRepository, add_site, remove_site     (validation; audited)
    records.crawls.CrawlRepository                           (queued -> running -> end)
    records.images.ImageRecorder                             (idempotent per crawl/URL/SHA-256)
    records.matches.MatchRepository, records.audit.AuditLog
Repositories return the frozen dataclasses of `records.types`, never ORM rows; errors derive
from `records.errors.RecordsError`. This package never talks to Redis.
"""
