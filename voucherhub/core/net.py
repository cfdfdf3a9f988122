from django.conf import settings


def client_ip(request) -> str:
    """The caller's address: REMOTE_ADDR, or the address a trusted proxy wrote into CLIENT_IP_HEADER.

    A proxy appends the address it saw to the end of a list header such as X-Forwarded-For; whatever
    stands before that was sent by the client and can be forged. So the address is read from the right:
    the CLIENT_IP_PROXY_COUNT-th entry from the end (1 = the one proxy in front of us). A header the proxy
    overwrites (X-Real-IP) has a single entry and reads the same way.
    """
    header = settings.CLIENT_IP_HEADER
    if header:
        hops = [hop.strip() for hop in request.META.get(header, "").split(",") if hop.strip()]
        if hops:
            return hops[-min(settings.CLIENT_IP_PROXY_COUNT, len(hops))]
    return request.META.get("REMOTE_ADDR", "")
