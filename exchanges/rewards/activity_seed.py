"""The activity types a data migration seeds (rewards 0002); admins edit and extend them in
/admin/, so code must not assume the rows are unchanged. code: (name, data category)."""

ACTIVITY_TYPES: dict[str, tuple[str, str]] = {
    "gym.visit": ("Gym visit", "activity.visits"),
    "grocery.purchase": ("Grocery purchase", "activity.purchases"),
    "policy.renewed": ("Policy renewed", "policy.status"),
}
