from django.conf import settings


def client_ip(request) -> str:
    """The caller's address: REMOTE_ADDR, or the first hop of a trusted proxy header when configured."""
    header = settings.CLIENT_IP_HEADER
    if header:
        forwarded = request.META.get(header, "")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.META.get("REMOTE_ADDR", "")
