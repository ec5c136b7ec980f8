"""How every list endpoint pages (the project-wide default, set in settings)."""

from rest_framework.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    """``?page=N`` (or ``last``), ``PAGE_SIZE`` rows unless ``?page_size=`` asks for up to
    ``max_page_size``: no request reads a whole table."""

    page_size_query_param = "page_size"
    max_page_size = 500
