"""Small admin pages with one form (move a distributor, approve a withdrawal...), in the admin's frame."""

from django.shortcuts import render


def admin_form_page(request, admin_obj, *, template: str, title, form, obj=None, help_text=""):
    context = {
        **admin_obj.admin_site.each_context(request),
        "title": title,
        "form": form,
        "object": obj,
        "help_text": help_text,
        "opts": admin_obj.model._meta,
    }
    return render(request, template, context)
