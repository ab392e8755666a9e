def commune(request):
    """The commune of the page (for its branding), or None on platform pages."""
    return {"commune": getattr(request, "commune", None)}
