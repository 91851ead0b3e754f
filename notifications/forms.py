"""Page forms of notifications: they parse input; the rules live in notifications.services."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .selectors import ChannelOption


class ChannelsForm(forms.Form):
    """Which external channels the user gets; the in-app inbox is always on."""

    channels = forms.MultipleChoiceField(
        label=_("Also send my notifications by"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, options: list[ChannelOption], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["channels"]
        field.choices = [(o.code, o.label) for o in options]
        self.initial.setdefault("channels", [o.code for o in options if o.enabled])
