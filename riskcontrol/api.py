"""API of risk control: a fresh challenge for API clients (storefront apps, POS)."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from channels.api import ERROR
from riskcontrol.challenge import challenge_issue
from voucherhub.core.net import client_ip


class ChallengeApi(APIView):
    """POST: a new challenge. Show `image_url` to the person and send `key` and the answer with the request that needs it.

    At most RISK_CHALLENGES_PER_MINUTE per address: past it 429 `too_many_challenges` with Retry-After."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    class OutputSerializer(serializers.Serializer):
        key = serializers.CharField()
        image_url = serializers.CharField()

    @extend_schema(
        request=None,
        responses={
            201: inline_serializer("Challenge", {"key": serializers.CharField(), "image_url": serializers.CharField()}),
            # Too many challenges asked for from one address: wait the Retry-After seconds.
            429: ERROR,
        },
    )
    def post(self, request):
        challenge = challenge_issue(ip=client_ip(request))
        return Response(
            self.OutputSerializer({"key": challenge.key, "image_url": request.build_absolute_uri(challenge.image_url)}).data, status=201
        )
