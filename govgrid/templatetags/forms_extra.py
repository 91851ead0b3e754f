from django import template

register = template.Library()


@register.filter
def top_errors(form) -> list:
    """Errors to show above a form: those of no field, and those of hidden fields (e.g. a missing version),
    which have no place of their own on the page."""
    errors = list(form.non_field_errors())
    for field in form.hidden_fields():
        errors.extend(field.errors)
    return errors
