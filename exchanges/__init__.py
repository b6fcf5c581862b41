"""The exchanges between partners: each one a Django app that sits on consent (referrals now;
rewards and offers next). An exchange may use consent, the partner directory and the shared
plumbing; none of those knows an exchange."""
