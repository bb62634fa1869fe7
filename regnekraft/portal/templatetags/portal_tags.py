from django import template

register = template.Library()


@register.filter
def dictget(mapping, key):
    """``{{ mapping|dictget:key }}``: a dictionary look-up with a variable key."""
    return mapping.get(key) if mapping else None
