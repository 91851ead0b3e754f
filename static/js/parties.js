// The visit form: fill the hidden latitude and longitude from the phone's position.
document.addEventListener("click", (event) => {
  const button = event.target.closest("#use-location");
  if (!button) return;
  const status = document.getElementById("location-status");
  const lat = document.querySelector("#visit-form [name=lat]");
  const lng = document.querySelector("#visit-form [name=lng]");
  if (!navigator.geolocation || !lat || !lng) {
    status.textContent = status.dataset.failed;
    return;
  }
  status.textContent = status.dataset.waiting;
  navigator.geolocation.getCurrentPosition(
    (position) => {
      lat.value = position.coords.latitude.toFixed(6);
      lng.value = position.coords.longitude.toFixed(6);
      status.textContent = `${lat.value}, ${lng.value}`;
    },
    () => { status.textContent = status.dataset.failed; },
    { enableHighAccuracy: true, timeout: 10000 },
  );
});
