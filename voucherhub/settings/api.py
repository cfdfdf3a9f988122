"""The signed API (/api/v1/; docs/api-signing.md): Django REST framework and the OpenAPI schema."""

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "voucherhub.core.api.exception_handler",
    # DRF's parsers, refusing control characters and non-characters in any text (voucherhub/core/apiparsers.py).
    "DEFAULT_PARSER_CLASSES": [
        "voucherhub.core.apiparsers.JSONParser",
        "voucherhub.core.apiparsers.FormParser",
        "voucherhub.core.apiparsers.MultiPartParser",
    ],
    # /api/v1/ takes only signed requests (no session, no CSRF): distributors' keys here, merchant terminals'
    # in their own views (redemption/api.py).
    "DEFAULT_AUTHENTICATION_CLASSES": ["channels.api_auth.DistributorKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "voucherhub.core.api.ApiPagination",
    "PAGE_SIZE": 100,
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "VoucherHub API",
    "DESCRIPTION": "Signed API for distributors and merchant terminals. See docs/api-signing.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and its docs page are public reading (no signature needed to read the reference).
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "voucherhub.core.api.schema_query_empty_values"],
}
