"""Flash sales (秒杀): the optional Redis gate in front of the database (``gate``) and the
queue that answers a rush at once and places its orders behind it (``queue``)."""
