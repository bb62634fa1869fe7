"""Base view sets: transactional writes, audit actor, documented error answers."""

from __future__ import annotations

from rest_framework import generics, mixins, viewsets

from regnekraft.api.mixins import AtomicWrites
from regnekraft.api.pagination import BoundedLimitOffsetPagination
from regnekraft.api.schema import RegnekraftAutoSchema


class ReadOnlyViewSet(AtomicWrites, viewsets.ReadOnlyModelViewSet):
    schema = RegnekraftAutoSchema()
    pagination_class = BoundedLimitOffsetPagination


class WritableViewSet(AtomicWrites, viewsets.ModelViewSet):
    schema = RegnekraftAutoSchema()
    pagination_class = BoundedLimitOffsetPagination


class CreateReadViewSet(AtomicWrites, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    schema = RegnekraftAutoSchema()
    pagination_class = BoundedLimitOffsetPagination


class BaseAPIView(AtomicWrites, generics.GenericAPIView):
    schema = RegnekraftAutoSchema()
    pagination_class = BoundedLimitOffsetPagination
