from django.urls import path

from okwallet.helpdesk import views_console as console
from okwallet.helpdesk import views_portal as portal

url_prefix = ""
app_name = "helpdesk"
urlpatterns = [
    path("console/tickets/", console.inbox, name="inbox"),
    path("console/tickets/presence/", console.presence, name="presence"),
    path("console/tickets/<str:number>/", console.ticket_detail, name="ticket"),
    path("console/tickets/<str:number>/live/", console.ticket_live, name="ticket_live"),
    path("console/tickets/<str:number>/reply/", console.ticket_reply, name="ticket_reply"),
    path("console/tickets/<str:number>/status/", console.ticket_status, name="ticket_status"),
    path("console/tickets/<str:number>/assign/", console.ticket_assign, name="ticket_assign"),
    path("console/tickets/<str:number>/update/", console.ticket_update, name="ticket_update"),
    path("console/tickets/<str:number>/link/", console.ticket_link, name="ticket_link"),
    path("console/tickets/<str:number>/extend/", console.complaint_extend, name="complaint_extend"),
    path("console/tickets/<str:number>/outcome/", console.complaint_outcome, name="complaint_outcome"),
    path("console/customers/", console.customers, name="customers"),
    path("console/customers/<str:public_id>/", console.customer_detail, name="customer"),
    path("console/customers/<str:public_id>/reveal/", console.customer_reveal, name="customer_reveal"),
    path("console/dashboard/", console.dashboard, name="dashboard"),
    path("support/", portal.my_tickets, name="portal_list"),
    path("support/new/", portal.ticket_new, name="portal_new"),
    path("support/complaint/", portal.complaint_new, name="portal_complaint"),
    path("support/t/<str:number>/", portal.ticket_detail, name="portal_ticket"),
    path("support/rate/<str:token>/", portal.csat, name="csat"),
    path("support/files/<int:pk>/", console.attachment_download, name="attachment"),
]
