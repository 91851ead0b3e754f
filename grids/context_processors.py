from . import access, tokens


def navigation(request):
    """Which menu entries the signed-in user may use (at least one node where they hold the permission)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "nav": {
            "access": access.user_can_anywhere(user, "grids.manage_access"),
            "departments": access.user_can_anywhere(user, "grids.manage_department"),
            "staff": access.user_can_anywhere(user, "grids.manage_staff"),
            "tree_admin": access.user_can_anywhere(user, "grids.change_region"),
            "integrations": tokens.may_manage_integrations(user),
        }
    }
